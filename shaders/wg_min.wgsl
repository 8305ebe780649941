// min with NaN propagation and ties to the first argument (WGSL's min() leaves NaN undefined).
fn wg_min(a: f32, b: f32) -> f32 {
  return select(select(a + b, b, b < a), a, a <= b);
}
