// a^b for f32 with the real-valued semantics of Math.pow: WGSL's pow() is undefined for a < 0,
// so negative bases are handled here (defined for integer b, NaN otherwise).
// Infinity and NaN come from bit patterns held in vars: as constants they would be rejected by
// WGSL's constant evaluation.
fn wg_pow(a: f32, b: f32) -> f32 {
  var inf_bits = 0x7f800000u;
  var nan_bits = 0x7fc00000u;
  if (b == 0.0) { return 1.0; }
  if ((bitcast<u32>(b) & 0x7fffffffu) > 0x7f800000u) { return b; }  // b is NaN
  if (a == 0.0) { return select(0.0, bitcast<f32>(inf_bits), b < 0.0); }
  let r = exp2(b * log2(abs(a)));
  if (a > 0.0) { return r; }
  if (b != floor(b)) { return bitcast<f32>(nan_bits); }
  let odd = (b * 0.5) != floor(b * 0.5);
  return select(r, -r, odd);
}
