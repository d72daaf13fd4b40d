"""Device-independent op definitions: the pointwise table and its dispatcher."""
