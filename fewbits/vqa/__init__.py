"""VQA models: the attention model in the codec's loss, and the judges of other families that score decodes."""
from .attention import VQA, Blind, ObjectVQA, WithGraphs, train, vqa_checkpoint
from .judges import FAMILIES, PANEL, load_panel, load_vqa

__all__ = ["VQA", "Blind", "ObjectVQA", "WithGraphs", "train", "vqa_checkpoint", "FAMILIES", "PANEL", "load_panel", "load_vqa"]
