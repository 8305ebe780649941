// tan x = sin x / cos x from wg_sincos (WGSL's tan inherits sin/cos's loose absolute bounds).
fn wg_tan(x: f32) -> f32 {
  let sc = wg_sincos(x);
  return sc.x / sc.y;
}
