"""The local stack: the Pulumi program applied to moto."""
