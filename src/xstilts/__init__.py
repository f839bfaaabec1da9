"""xstilts: intermediate-task training (STILTs) and zero-shot cross-lingual transfer on XTREME / XTREME-R."""

__version__ = "0.1.0"
