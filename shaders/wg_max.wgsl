// max with NaN propagation and ties to the first argument (WGSL's max() leaves NaN undefined).
fn wg_max(a: f32, b: f32) -> f32 {
  return select(select(a + b, b, b > a), a, a >= b);
}
