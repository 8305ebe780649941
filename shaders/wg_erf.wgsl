// erf for f32 (WGSL has none). Near 0 a Taylor series keeps the relative error at f32 level (the
// usual one-formula fits lose it there); beyond, erfc from Chebyshev-fitted exponent (Numerical
// Recipes' erfcc, relative error of erfc below 1.2e-7); erf is ±1 in f32 beyond |x| = 4.
fn wg_erf(x: f32) -> f32 {
  let ax = abs(x);
  // |x| < 0.5: erf x = 2/√π (x - x³/3 + x⁵/10 - x⁷/42 + x⁹/216 - x¹¹/1320)
  let x2 = x * x;
  let small = 1.1283791670955126 * x * (1.0 + x2 * (-0.3333333333 + x2 * (0.1 + x2 * (-0.0238095238 + x2 * (0.0046296296 - x2 * 0.0007575758)))));
  // else erfc via exp(-x²) times a rational fit in t = 1/(1 + p·x) (Numerical Recipes erfcc, |ε| < 1.2e-7)
  let t = 1.0 / (1.0 + 0.5 * ax);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  let large = sign(x) * (1.0 - t * exp(-ax * ax + poly));
  return select(select(large, sign(x), ax >= 4.0), small, ax < 0.5);
}
