/**
 * The fusion sites of nsfwjs `mobilenet_v2_mid` (MobileNetV2 width 1.4 at
 * 224², models/mobilenet_v2_mid): every distinct DW→PW and PW→DW shape, with
 * how often it occurs in the model. DW: 3x3, bias + relu6; projection PW:
 * bias, linear; expansion PW: bias + relu6.
 */

export interface DwPwSite {
  kind: 'dwpw';
  name: string;
  /** Depthwise input H = W, channels C, stride; pointwise output channels F. */
  h: number;
  c: number;
  stride: number;
  f: number;
  count: number;
}

export interface PwDwSite {
  kind: 'pwdw';
  name: string;
  /** Pointwise input H = W, channels Cin, expanded channels M; depthwise stride. */
  h: number;
  cin: number;
  m: number;
  stride: number;
  count: number;
}

const dwpw = (h: number, c: number, stride: number, f: number, count = 1): DwPwSite => ({
  kind: 'dwpw',
  name: `dwpw ${h}²x${c}${stride === 2 ? ' s2' : ''}->${f}`,
  h,
  c,
  stride,
  f,
  count,
});

const pwdw = (h: number, cin: number, m: number, stride: number, count = 1): PwDwSite => ({
  kind: 'pwdw',
  name: `pwdw ${h}²x${cin}->${m}${stride === 2 ? ' s2' : ''}`,
  h,
  cin,
  m,
  stride,
  count,
});

export const DW_PW_SITES: DwPwSite[] = [
  dwpw(112, 48, 1, 24),
  dwpw(112, 144, 2, 32),
  dwpw(56, 192, 1, 32),
  dwpw(56, 192, 2, 48),
  dwpw(28, 288, 1, 48, 2),
  dwpw(28, 288, 2, 88),
  dwpw(14, 528, 1, 88, 3),
  dwpw(14, 528, 1, 136),
  dwpw(14, 816, 1, 136, 2),
  dwpw(14, 816, 2, 224),
  dwpw(7, 1344, 1, 224, 2),
  dwpw(7, 1344, 1, 448),
];

export const PW_DW_SITES: PwDwSite[] = [
  pwdw(112, 24, 144, 2),
  pwdw(56, 32, 192, 1),
  pwdw(56, 32, 192, 2),
  pwdw(28, 48, 288, 1, 2),
  pwdw(28, 48, 288, 2),
  pwdw(14, 88, 528, 1, 4),
  pwdw(14, 136, 816, 1, 2),
  pwdw(14, 136, 816, 2),
  pwdw(7, 224, 1344, 1, 3),
];
