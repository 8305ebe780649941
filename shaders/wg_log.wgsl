// Natural log with IEEE semantics outside the domain: WGSL leaves log(x <= 0) indeterminate (one
// adapter returns log|x| and -88 for log(0)); here log(0) = -inf and log(x < 0) = NaN, as on the CPU.
// Infinity and NaN come from bit patterns in vars (as constants WGSL would reject them).
fn wg_log(a: f32) -> f32 {
  var neg_inf_bits = 0xff800000u;
  var nan_bits = 0x7fc00000u;
  if (a > 0.0) { return log(a); }
  if (a == 0.0) { return bitcast<f32>(neg_inf_bits); }
  return bitcast<f32>(nan_bits);
}
