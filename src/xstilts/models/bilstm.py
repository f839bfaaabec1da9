"""The recurrent baseline: a bidirectional LSTM over a pretrained model's input embeddings.

"Transformer vs recurrent" is one config switch (``model.family: bilstm``): the BiLSTM takes the pretrained
checkpoint's tokenizer and input embedding matrix (frozen by default) and produces token states of the same shape as
an encoder's, so every task head works on it unchanged. It is a ``transformers`` model (``model_type``
``xstilts-bilstm``), registered with the Auto classes, so phases save and load it like any checkpoint.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput


class BiLSTMConfig(PretrainedConfig):
    """Config of :class:`BiLSTMEncoder`. ``hidden_size`` is the output width (both directions together)."""

    model_type = "xstilts-bilstm"

    def __init__(self, vocab_size: int = 1000, embedding_dim: int = 128, hidden_size: int = 256,
                 num_hidden_layers: int = 1, dropout: float = 0.1, pad_token_id: int = 0,
                 freeze_embeddings: bool = True, embeddings_from: str = "", **kwargs):
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        if hidden_size % 2:
            raise ValueError("hidden_size must be even (two directions)")
        self.vocab_size, self.embedding_dim, self.hidden_size = vocab_size, embedding_dim, hidden_size
        self.num_hidden_layers, self.dropout = num_hidden_layers, dropout
        self.freeze_embeddings, self.embeddings_from = freeze_embeddings, embeddings_from


class BiLSTMEncoder(PreTrainedModel):
    """Embeddings -> LayerNorm -> dropout -> ``num_hidden_layers`` stacked BiLSTM layers.

    Forward: ``input_ids [B, L]``, ``attention_mask [B, L]`` (right or left padding) -> ``last_hidden_state
    [B, L, hidden_size]``; ``hidden_states`` = (embeddings projected to ``hidden_size``, output of each layer).
    Padding positions are excluded from the recurrence (packed sequences) and output zeros.
    """

    config_class = BiLSTMConfig
    base_model_prefix = "bilstm"
    main_input_name = "input_ids"

    def __init__(self, config: BiLSTMConfig):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.embeddings.weight.requires_grad_(not config.freeze_embeddings)
        # pretrained embedding tables are small in scale (std ~0.02-0.05); a LayerNorm gives the LSTM unit-scale inputs
        self.embed_norm = nn.LayerNorm(config.embedding_dim)
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(
            nn.LSTM(config.embedding_dim if i == 0 else config.hidden_size, config.hidden_size // 2,
                    batch_first=True, bidirectional=True) for i in range(config.num_hidden_layers))
        self.input_proj = nn.Linear(config.embedding_dim, config.hidden_size)
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings = value

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, output_hidden_states: bool = False,
                **kwargs) -> BaseModelOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        mask = attention_mask.bool()
        lengths = mask.sum(1).clamp_min(1)
        # move real tokens to the front (handles left padding), run packed, move back
        order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
        x = self.dropout(self.embed_norm(self.embeddings(torch.gather(input_ids, 1, order))))
        states = [self.input_proj(x)]
        for lstm in self.layers:
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = lstm(packed)
            x, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=input_ids.shape[1])
            x = self.dropout(x)
            states.append(x)
        inverse = torch.argsort(order, dim=1)
        states = [torch.gather(s, 1, inverse.unsqueeze(-1).expand(-1, -1, s.shape[-1])) * mask.unsqueeze(-1)
                  for s in states]
        return BaseModelOutput(last_hidden_state=states[-1],
                               hidden_states=tuple(states) if output_hidden_states else None)


AutoConfig.register(BiLSTMConfig.model_type, BiLSTMConfig)
AutoModel.register(BiLSTMConfig, BiLSTMEncoder)


def bilstm_from_pretrained(embeddings: torch.Tensor, pad_token_id: int, *, hidden_size: int | None = None,
                           num_layers: int = 1, dropout: float = 0.1, freeze_embeddings: bool = True,
                           source: str = "", seed: int = 0) -> BiLSTMEncoder:
    """A BiLSTM whose embedding matrix is a copy of a pretrained model's (``embeddings [V, E]``).

    ``hidden_size`` defaults to ``E`` (so heads see the same width as the pretrained encoder's). The recurrent
    weights are initialised from *seed*.
    """
    torch.manual_seed(seed)
    cfg = BiLSTMConfig(vocab_size=embeddings.shape[0], embedding_dim=embeddings.shape[1],
                       hidden_size=hidden_size or embeddings.shape[1] + embeddings.shape[1] % 2,
                       num_hidden_layers=num_layers, dropout=dropout, pad_token_id=pad_token_id,
                       freeze_embeddings=freeze_embeddings, embeddings_from=source)
    model = BiLSTMEncoder(cfg)
    with torch.no_grad():
        model.embeddings.weight.copy_(embeddings.float())
    return model
