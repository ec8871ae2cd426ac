"""Operator tooling that never ships in the Lambda zip: packaging, deployment and IAM policies.

Chalice packages ``app.py`` and ``chalicelib/`` only, so nothing here reaches Lambda.
"""
