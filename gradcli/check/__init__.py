"""The cross-check: autograd's derivatives against sympy's and against finite differences.

`cross_check.check` runs it; `compare` holds the tolerances and the verdict, `differences`
the finite differences of a program, `diagnostics` what the recorded graph tells when the
check cannot compare (NaN or infinity) or finds a kink.
"""
