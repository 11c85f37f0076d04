"""Lambda code for the image pipeline: thin handlers over a pure imaging core.

This package is what gets zipped into the Lambda functions. It must not import
anything from the Pulumi side of the project; the Pillow layer (Pillow and
Powertools) is all it may rely on besides the Lambda runtime's own botocore (the
handlers create botocore clients: boto3 is not imported, for a shorter cold start).
"""
