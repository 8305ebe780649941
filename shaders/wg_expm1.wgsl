// eᵃ − 1 for f32 without cancellation near 0: below |a| = 1/2 the Taylor series to a⁹ (truncation
// below 3e-10 relative); beyond, exp(a) − 1 loses nothing that matters. (Kahan's (u−1)·a/log u
// needs an accurate log near 1, which a software adapter did not have: expm1(-3e-8) gave -6e-8.)
fn wg_expm1(a: f32) -> f32 {
  let series = a * (1.0 + a * (0.5 + a * (0.1666666667 + a * (0.04166666667 + a * (0.008333333333 + a * (0.001388888889 + a * (0.0001984126984 + a * (0.0000248015873 + a * 0.000002755731922))))))));
  return select(exp(a) - 1.0, series, abs(a) < 0.5);
}
