"""Generated from protos/authority/internal/v1 by scripts/gen_protos.py; do not edit."""
