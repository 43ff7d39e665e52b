"""Configuration: the YAML file and flags, validated into one immutable model."""
