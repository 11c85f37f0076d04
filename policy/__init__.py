"""The imagepipeline-guardrails policy pack: security rules checked on every preview and update.

`policy.rules` holds the rule logic as pure functions (unit-tested without the Pulumi CLI),
`policy.pack` wraps them as CrossGuard policies, and `policy/__main__.py` serves the pack.
"""
