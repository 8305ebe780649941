// ln(1 + a) without the cancellation of log(1.0 + a) near 0: u = 1 + a is exact up to rounding,
// and log(u) · a / (u - 1) corrects for that rounding (Goldberg's trick). Uses wg_log, so that
// a = -1 gives -inf and a < -1 NaN on every adapter.
fn wg_log1p(a: f32) -> f32 {
  let u = 1.0 + a;
  if (u == 1.0) { return a; }
  // u is ±inf or NaN (tested on the bits: a compiler may fold u - u != 0.0 away): +inf stays, the
  // rest is NaN, as wg_log gives.
  if ((bitcast<u32>(u) & 0x7f800000u) == 0x7f800000u) { return wg_log(u); }
  return wg_log(u) * (a / (u - 1.0));
}
