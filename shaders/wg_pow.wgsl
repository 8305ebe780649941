// a^b for f32 with the real-valued semantics of Math.pow: WGSL's pow() is undefined for a < 0,
// so negative bases are handled here (defined for integer b, NaN otherwise).
// Infinity and NaN come from bit patterns held in vars: as constants they would be rejected by
// WGSL's constant evaluation.
fn wg_pow(a: f32, b: f32) -> f32 {
  var inf_bits = 0x7f800000u;
  var nan_bits = 0x7fc00000u;
  let r = exp2(b * log2(abs(a)));
  // a < 0: defined for an integer b only, negative for an odd one.
  let odd = (b * 0.5) != floor(b * 0.5);
  var v = select(select(r, -r, odd), bitcast<f32>(nan_bits), b != floor(b));
  v = select(v, r, a > 0.0);
  v = select(v, select(0.0, bitcast<f32>(inf_bits), b < 0.0), a == 0.0);
  v = select(v, b, (bitcast<u32>(b) & 0x7fffffffu) > 0x7f800000u);  // b is NaN
  return select(v, 1.0, b == 0.0);
}
