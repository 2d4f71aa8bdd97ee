// TokenCompose's token loss (Wang et al., CVPR 2024, "TokenCompose: Text-to-Image Diffusion with
// Token-level Supervision"): a token's cross-attention should fall inside the region of the
// object it names. With maps A [B, L, T] (for each of L pixels, its attention over T tokens),
// region masks M [B, L, K] (K objects) and weights W [B, T, K] saying which tokens name which
// object (and how much each term counts):
//   S_bik = Σ_p A_bpi·M_bpk,  Z_bi = Σ_p A_bpi,  r_bik = S_bik / Z_bi,
//   loss  = Σ_bik W_bik·(1 − r_bik)²,
//   dA_bpi = Σ_k W_bik·2(r_bik − 1)·(M_bpk − r_bik) / Z_bi.
// It gives each object's words a place in the image to attend to (`grounding_loss_weight` of a
// diffusion recipe).

import Foundation

/// Σ_bik W·(1 − r)² with r the share of token i's attention mass (over pixels) that lies in
/// object k's mask. `maps` [B, L, T] may require gradients; `masks` [B, L, K] and `weights`
/// [B, T, K] are constants (weights ≥ 0; zero where a token does not name the object).
public func tokenGroundingLoss(maps: Tensor, masks: Tensor, weights: Tensor) -> Tensor {
    precondition(maps.rank == 3 && masks.rank == 3 && weights.rank == 3,
                 "tokenGroundingLoss: maps \(maps.shape), masks \(masks.shape), weights \(weights.shape) must be rank 3")
    let (batch, pixels, tokens) = (maps.shape[0], maps.shape[1], maps.shape[2])
    let objects = masks.shape[2]
    precondition(masks.shape == [batch, pixels, objects] && weights.shape == [batch, tokens, objects],
                 "tokenGroundingLoss: maps \(maps.shape) need masks [B, L, K] and weights [B, T, K], got \(masks.shape) and \(weights.shape)")
    let ap = maps.pointer, mp = masks.pointer, wp = weights.pointer
    // Per (b, i): Z and the K shares r; kept for backward.
    let totals = [Float](unsafeUninitializedCapacity: batch * tokens) { buffer, n in
        buffer.initialize(repeating: 0)
        for b in 0..<batch {
            for p in 0..<pixels {
                let row = ap + (b * pixels + p) * tokens
                for i in 0..<tokens { buffer[b * tokens + i] += row[i] }
            }
        }
        n = batch * tokens
    }
    var shares = [Float](repeating: 0, count: batch * tokens * objects)
    var value = 0.0
    for b in 0..<batch {
        for p in 0..<pixels {
            let row = ap + (b * pixels + p) * tokens, mask = mp + (b * pixels + p) * objects
            for k in 0..<objects where mask[k] != 0 {
                for i in 0..<tokens { shares[(b * tokens + i) * objects + k] += row[i] * mask[k] }
            }
        }
        for i in 0..<tokens {
            let z = max(totals[b * tokens + i], .leastNormalMagnitude)
            for k in 0..<objects {
                let at = (b * tokens + i) * objects + k
                shares[at] /= z
                let w = wp[at]
                if w != 0 { value += Double(w) * Double((1 - shares[at]) * (1 - shares[at])) }
            }
        }
    }
    let out = Tensor.scalar(Float(value))
    return Autograd.record(out, "token_grounding_loss", inputs: [maps, masks, weights]) { g in
        let scale = g.item
        let ga = Tensor.zeros(maps.shape)
        let gp = ga.pointer
        // Per (b, i): c_k = W·2(r − 1)/Z, so dA_bpi = Σ_k c_k·M_bpk − Σ_k c_k·r_k.
        var coefficients = [Float](repeating: 0, count: objects)
        for b in 0..<batch {
            for i in 0..<tokens {
                let z = max(totals[b * tokens + i], .leastNormalMagnitude)
                var offset: Float = 0, any = false
                for k in 0..<objects {
                    let at = (b * tokens + i) * objects + k
                    let c = scale * wp[at] * 2 * (shares[at] - 1) / z
                    coefficients[k] = c
                    offset += c * shares[at]
                    any = any || c != 0
                }
                guard any else { continue }
                for p in 0..<pixels {
                    let mask = mp + (b * pixels + p) * objects
                    var d = -offset
                    for k in 0..<objects { d += coefficients[k] * mask[k] }
                    gp[(b * pixels + p) * tokens + i] = d
                }
            }
        }
        return [ga, nil, nil]
    }
}
