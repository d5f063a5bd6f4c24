"""The mapping language (external fields to profile attributes) and the default mapping files.

Empty until the mappings work lands; the package exists so the layout of DESIGN.md holds from day one.
"""
