"""Models: the pretrained backbones and what is built on them.

* :mod:`xstilts.models.backbone` — loading encoders and decoder LLMs (Hugging Face ``AutoModel``), LoRA (peft),
  pooling, packing layouts, the memory estimate, the retrieval layer;
* :mod:`xstilts.models.bilstm` — the recurrent baseline (a BiLSTM registered with the Auto classes);
* :mod:`xstilts.models.heads` — one head per task kind (classification, multiple choice, span QA, tagging);
* :mod:`xstilts.models.embeddings` — sentence embeddings for retrieval (mean-pooled layer, length-sorted batches);
* :mod:`xstilts.models.export` — a trained phase as a Hugging Face model with a model card.
"""
