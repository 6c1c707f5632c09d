"""The rules of FabLab training, as plain functions over plain data (no Flask, no HTTP)."""
