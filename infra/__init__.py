"""Pulumi code for the image pipeline: the ImagePipeline component and its parts."""
