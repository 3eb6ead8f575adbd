"""Data contracts: load ODCS v3 documents into frozen models, lint them, compile them to checks, and
derive everything else (validator, GX suite, SDV metadata, pyarrow schema) from them.
"""

from hdc_toolkit.contracts.checks import CheckKind, CheckSpec, compile_checks
from hdc_toolkit.contracts.loader import (
    ContractDocument,
    Problem,
    load_contract,
    load_contract_dir,
    load_document,
)
from hdc_toolkit.contracts.model import Column, Contract, Reference

__all__ = [
    "CheckKind",
    "CheckSpec",
    "Column",
    "Contract",
    "ContractDocument",
    "Problem",
    "Reference",
    "compile_checks",
    "load_contract",
    "load_contract_dir",
    "load_document",
]
