// sinh for f32: drivers compute (eᵃ − e⁻ᵃ)/2, which loses every digit near 0 (sinh(1e-10) gave
// 3e-8). Below |a| = 1/2 the series a + a³/6 + a⁵/120 + a⁷/5040 is exact to f32 rounding (the next
// term is below 1e-8 of the sum).
fn wg_sinh(a: f32) -> f32 {
  let a2 = a * a;
  let near_zero = a * (1.0 + a2 * (0.1666666667 + a2 * (0.008333333333 + a2 * 0.0001984126984)));
  return select(sinh(a), near_zero, abs(a) < 0.5);
}
