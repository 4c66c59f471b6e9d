"""Lambda function sources bundled by the stacks (one directory per function asset)."""
