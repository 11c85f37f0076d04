"""imagepipe: the command line of the image pipeline."""
