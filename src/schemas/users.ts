import Type, { type Static } from 'typebox'
import type { PhoneFields, ProfileView } from '../users/profile.js'
import { Nullable, sameType } from './common.js'

export const Profile = Type.Object({
  id: Type.String({ format: 'uuid' }),
  appid: Type.String({ description: 'the mini-program of this session' }),
  openid: Type.String({ description: "the user's openid in this session's mini-program" }),
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
