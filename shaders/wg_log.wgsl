// Natural log with IEEE semantics outside the domain: WGSL leaves log(x <= 0) indeterminate (one
// adapter returns log|x| and -88 for log(0)); here log(0) = -inf and log(x < 0) = NaN, as on the CPU.
// Infinity and NaN come from bit patterns in vars (as constants WGSL would reject them).
fn wg_log(a: f32) -> f32 {
  var neg_inf_bits = 0xff800000u;
  var nan_bits = 0x7fc00000u;
  let off_domain = select(bitcast<f32>(nan_bits), bitcast<f32>(neg_inf_bits), a == 0.0);
  return select(off_domain, log(a), a > 0.0);
}
