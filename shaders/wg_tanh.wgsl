// tanh for f32: some drivers compute tanh from exp and return NaN for |a| beyond ~44; tanh is ±1 in
// f32 from |a| > 9.01, so clamping there is exact.
fn wg_tanh(a: f32) -> f32 {
  return tanh(clamp(a, -10.0, 10.0));
}
