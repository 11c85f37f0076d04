"""Lambda code for the image pipeline: thin handlers over a pure imaging core.

This package is what gets zipped into the Lambda functions. It must not import
anything from the Pulumi side of the project; the Pillow layer (Pillow and
Powertools) is all it may rely on besides the Lambda runtime's own botocore (the
image handlers create botocore clients, not boto3's, for a shorter cold start).
"""
