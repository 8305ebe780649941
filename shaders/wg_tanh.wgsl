// tanh for f32: some drivers compute tanh from exp and return NaN for |a| beyond ~44; tanh is ±1 in
// f32 from |a| > 9.01, so clamping there is exact. Near 0 they compute (e²ᵃ − 1)/(e²ᵃ + 1) and lose
// every digit (tanh(1e-10) gave 3e-8): below |a| = 1/8 the series a − a³/3 + 2a⁵/15 − 17a⁷/315 is
// exact to f32 rounding. A NaN stays NaN (clamp would pick a bound); the test is on the bits,
// which no fast-math assumption can remove.
fn wg_tanh(a: f32) -> f32 {
  let a2 = a * a;
  let near_zero = a * (1.0 + a2 * (-0.3333333333 + a2 * (0.1333333333 + a2 * -0.0539682540)));
  let t = select(tanh(clamp(a, -10.0, 10.0)), near_zero, abs(a) < 0.125);
  return select(t, a, (bitcast<u32>(a) & 0x7fffffffu) > 0x7f800000u);
}
