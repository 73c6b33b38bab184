"""The benchmark kit: the deterministic chain maker, the flagged-share counter and the bench
runner. Not part of the installed package; `scripts/bench.py`, `scripts/make_chain.py` and
`scripts/scale.py` run it from a checkout, and the tests import it as `scripts.benchkit`."""
