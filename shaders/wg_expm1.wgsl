// eᵃ - 1 without the cancellation of exp(a) - 1.0 near 0 (Kahan's trick: (u - 1) · a / ln u).
fn wg_expm1(a: f32) -> f32 {
  if (abs(a) >= 0.5) { return exp(a) - 1.0; }
  let u = exp(a);
  if (u == 1.0) { return a; }
  return (u - 1.0) * (a / log(u));
}
