// tanh for f32: some drivers compute tanh from exp and return NaN for |a| beyond ~44; tanh is ±1 in
// f32 from |a| > 9.01, so clamping there is exact. A NaN stays NaN (clamp would pick a bound); the
// test is on the bits, which no fast-math assumption can remove.
fn wg_tanh(a: f32) -> f32 {
  if ((bitcast<u32>(a) & 0x7fffffffu) > 0x7f800000u) { return a; }
  return tanh(clamp(a, -10.0, 10.0));
}
