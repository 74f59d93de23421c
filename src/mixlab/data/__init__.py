"""Data layer: readers, tokenizer, token shards, the mixture sampler and schedules, and the
synthetic corpora (biographies, arithmetic, demo corpora from the standard library).

Imports no torch: the trainer wraps the numpy arrays this layer returns.
"""

from mixlab.data.config import (
    PrepareConfig,
    SourceConfig,
    TokenizerConfig,
    ValidationSplitConfig,
    load_prepare_config,
    parse_prepare_config,
)
from mixlab.data.prepare import DomainSummary, PrepareProgress, PrepareSummary, info, prepare
from mixlab.data.prepared import PreparedData, load_prepared
from mixlab.data.probes import Probe, read_probes, write_probes
from mixlab.data.sampler import MixtureSampler, validation_batches, validation_sequences
from mixlab.data.schedule import (
    CurriculumSchedule,
    CurriculumStage,
    LinearSchedule,
    StaticSchedule,
    parse_schedule,
)
from mixlab.data.shards import Shard, ShardWriter
from mixlab.data.tokenizer import TextTokenizer, byte_tokenizer, train_bpe

__all__ = [
    "CurriculumSchedule",
    "CurriculumStage",
    "DomainSummary",
    "LinearSchedule",
    "MixtureSampler",
    "PrepareConfig",
    "PrepareProgress",
    "PrepareSummary",
    "PreparedData",
    "Probe",
    "Shard",
    "ShardWriter",
    "SourceConfig",
    "StaticSchedule",
    "TextTokenizer",
    "TokenizerConfig",
    "ValidationSplitConfig",
    "byte_tokenizer",
    "info",
    "load_prepare_config",
    "load_prepared",
    "parse_prepare_config",
    "parse_schedule",
    "prepare",
    "read_probes",
    "train_bpe",
    "validation_batches",
    "validation_sequences",
    "write_probes",
]
