import Type, { type Static } from 'typebox'
import { PLATFORMS, SUBJECT_KINDS } from '../platforms/adapter.js'
import type { PhoneFields, ProfileView } from '../users/profile.js'
import { Nullable, sameType } from './common.js'

export const Profile = Type.Object({
  id: Type.String({ format: 'uuid' }),
  appid: Type.String({ description: 'the mini-program of this session' }),
  platform: Type.Enum([...PLATFORMS], { description: "the platform of this session's mini-program" }),
  subject: Type.String({ description: "the platform's id of the user in this session's mini-program (its openid, open_id or user_id)" }),
  subjectKind: Type.Enum([...SUBJECT_KINDS], {
    description: 'what subject is: openid (per mini-program), open_id (per developer, Kuaishou) or user_id (Alipay)'
  }),
  openid: Nullable(Type.String({ description: 'subject when it is an openid (WeChat, QQ, Douyin, Baidu), else null; kept for WeChat clients written before platform and subject' })),
  hasUnionid: Type.Boolean(),
  nickname: Nullable(Type.String()),
  avatarUrl: Nullable(Type.String()),
  gender: Nullable(Type.Integer()),
  language: Nullable(Type.String()),
  city: Nullable(Type.String()),
  province: Nullable(Type.String()),
  country: Nullable(Type.String()),
  phoneNumber: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' })
}, { additionalProperties: false })
sameType<Static<typeof Profile>, ProfileView>()

export const PhoneResponse = Type.Object({
  phoneNumber: Type.String(),
  purePhoneNumber: Type.String(),
  countryCode: Type.String()
}, { additionalProperties: false })
sameType<Static<typeof PhoneResponse>, PhoneFields>()
