"""The adversarial corpus (issue 6): see spec.py."""
