#pragma once
// Attention rollout (Abnar & Zuidema 2020, "Quantifying attention flow in transformers"): how
// much the class token draws on each patch through all layers. Per layer, the heads' attention
// is fused (mean, max or min), optionally its lowest entries are zeroed, the identity is added
// for the residual connection, A = (A_fused + I) / 2, and each row is renormalized to sum 1;
// the layers are multiplied, R = A_L ... A_1, and the class token's row over the patches is
// the map, scaled to a maximum of 1. Needs no gradient and ignores the target class.
#include <vector>

#include "saliency/methods.h"

namespace saliency {

// attentions: one [1, heads, T, T] tensor per layer, first layer first; token 0 is the class
// token and the other T - 1 form a square grid. Returns [1, 1, grid, grid].
//
// The discard step follows jacobgil/vit-explain: the k = floor(T^2 * ratio) smallest entries of
// the fused matrix (ties: lower flat index first) are zeroed, except entry [0, 0]. Its row
// normalization divides each row by that row's sum (vit-explain's `a / a.sum(dim=-1)`
// broadcasts over columns instead; the two agree when nothing is discarded, since softmax rows
// already sum to 1).
Tensor attention_rollout(const std::vector<Tensor>& attentions, const RolloutOptions& options);

}  // namespace saliency
