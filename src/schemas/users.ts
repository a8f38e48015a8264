import Type, { type Static } from 'typebox'

export const Profile = Type.Object({
  id: Type.String({ format: 'uuid' }),
  appid: Type.String({ description: 'the mini-program of this session' }),
  openid: Type.String({ description: "the user's openid in this session's mini-program" }),
  hasUnionid: Type.Boolean(),
  nickname: Type.Union([Type.String(), Type.Null()]),
  avatarUrl: Type.Union([Type.String(), Type.Null()]),
  gender: Type.Union([Type.Integer(), Type.Null()]),
  language: Type.Union([Type.String(), Type.Null()]),
  city: Type.Union([Type.String(), Type.Null()]),
  province: Type.Union([Type.String(), Type.Null()]),
  country: Type.Union([Type.String(), Type.Null()]),
  phoneNumber: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' })
}, { additionalProperties: false })
export type ProfileView = Static<typeof Profile>

export const PhoneResponse = Type.Object({
  phoneNumber: Type.String(),
  purePhoneNumber: Type.String(),
  countryCode: Type.String()
}, { additionalProperties: false })
export type PhoneFields = Static<typeof PhoneResponse>
