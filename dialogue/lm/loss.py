"""Training batches and the loss on the agent's tokens (for training and evaluation)."""

from __future__ import annotations

import torch

from dialogue.lm.examples import IGNORE, Example


def collate(batch: list[Example], pad_id: int) -> dict:
    """Padded tensors, and under "images" the examples' image features, batch-major."""
    n = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), n), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for i, e in enumerate(batch):
        k = len(e.input_ids)
        ids[i, :k] = torch.tensor(e.input_ids)
        labels[i, :k] = torch.tensor(e.labels)
        mask[i, :k] = 1
    images = [f for e in batch for f in e.images]
    return {"input_ids": ids, "labels": labels, "attention_mask": mask, "images": images}


def agent_token_loss(
    model, batch: dict[str, torch.Tensor], inputs_embeds: torch.Tensor | None = None
) -> torch.Tensor:
    """The mean cross-entropy over target tokens, computing the output layer only where there is
    a target. Gemma's vocabulary has 262,144 entries: full logits for every position of a batch
    cost more than the rest of the network on a CPU, and most positions are the customer's.
    `inputs_embeds` (image soft tokens merged in) replaces the ids as the input when given."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head, body = getattr(base, "lm_head", None), getattr(base, "model", None)
    given = {"input_ids": batch["input_ids"]} if inputs_embeds is None else {"inputs_embeds": inputs_embeds}  # fmt: skip
    if head is None or body is None:  # not the usual decoder + head layout: the plain way
        return model(**given, attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
    hidden = body(**given, attention_mask=batch["attention_mask"]).last_hidden_state
    targets = batch["labels"][:, 1:]
    keep = targets != IGNORE
    logits = head(hidden[:, :-1][keep]).float()
    cap = getattr(base.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return torch.nn.functional.cross_entropy(logits, targets[keep])
