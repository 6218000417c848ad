"""The reference IM service and its Locust scenarios, which ``perfgate demo`` gates.

A service under test runs from its own worktree, so ``perfgate demo`` copies this package
into the demo repository as ``loadtests/`` (its imports are relative, so it runs under
either name); the project's own ``loadtests/`` links here.
"""
