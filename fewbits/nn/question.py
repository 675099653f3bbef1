"""The question encoder every question-reading network here shares: words -> one vector."""
import torch
import torch.nn as nn


class QuestionEncoder(nn.Module):
    """(Q, L) token ids, 0-padded on the right -> (Q, qdim): the GRU state at each question's last word."""

    def __init__(self, vocab_size, qdim=128):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, 64, padding_idx=0)
        self.gru = nn.GRU(64, qdim, batch_first=True)

    def forward(self, tokens):
        return self.words(tokens)[0]

    def words(self, tokens):
        """-> (the last word's state (Q, qdim), every word's state (Q, L, qdim))"""
        out, _ = self.gru(self.embed(tokens))
        last = (tokens > 0).sum(1).clamp(min=1) - 1
        return out[torch.arange(len(tokens)), last], out
