// 1 / (1 + e⁻ᵃ) without overflow: exp of a non-positive number only.
fn wg_sigmoid(a: f32) -> f32 {
  let e = exp(-abs(a));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), a >= 0.0);
}
