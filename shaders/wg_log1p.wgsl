// log(1 + a) for f32. For -1/4 < a < 1/2: 2·atanh(s), s = a/(2 + a), by its odd series to s¹³
// (|s| ≤ 1/5: truncation below 1e-10 relative), which keeps full relative accuracy near 0 (a
// software adapter's log near 1 does not: log1p(1e-6) came out 5% off through log(1 + a)). Beyond,
// log(u)·a/(u − 1) with u = 1 + a corrects u's rounding.
fn wg_log1p(a: f32) -> f32 {
  let s = a / (2.0 + a);
  let s2 = s * s;
  let series = 2.0 * s * (1.0 + s2 * (0.3333333333 + s2 * (0.2 + s2 * (0.1428571429 + s2 * (0.1111111111 + s2 * (0.09090909091 + s2 * 0.07692307692))))));
  let u = 1.0 + a;
  let l = wg_log(u);
  // u is ±inf or NaN (tested on the bits: a compiler may fold u - u != 0.0 away): +inf stays, the
  // rest is NaN, as wg_log gives.
  let special = (bitcast<u32>(u) & 0x7f800000u) == 0x7f800000u;
  let far = select(select(l * (a / (u - 1.0)), l, special), a, u == 1.0);
  return select(far, series, (a > -0.25) & (a < 0.5));
}
