"""Generated from protos/authority/v1 by scripts/gen_protos.py; do not edit."""
