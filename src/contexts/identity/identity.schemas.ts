import { Type, type Static } from 'typebox';
import { idPattern } from '../../platform/ids';

const Email = Type.String({ format: 'email', maxLength: 254, description: 'Compared case-insensitively; stored lower-cased' });
const RoleSchema = Type.Union([Type.Literal('shopper'), Type.Literal('creator'), Type.Literal('merchant'), Type.Literal('admin')]);

export const Account = Type.Object(
  {
    id: Type.String({ pattern: idPattern('account') }),
    email: Type.String(),
    displayName: Type.String(),
    roles: Type.Array(RoleSchema),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);

export const SignUpBody = Type.Object(
  {
    email: Email,
    password: Type.String({ minLength: 10, maxLength: 200 }),
    displayName: Type.String({ minLength: 1, maxLength: 80 }),
    role: Type.Union([Type.Literal('shopper'), Type.Literal('creator'), Type.Literal('merchant')], {
      description: 'Admins cannot sign up; they are created by the seed or the CLI',
    }),
  },
  { additionalProperties: false },
);

export const LogInBody = Type.Object(
  {
    email: Email,
    password: Type.String({ minLength: 1, maxLength: 200 }),
  },
  { additionalProperties: false },
);

export const SessionResponse = Type.Object(
  {
    account: Account,
    token: Type.String({ description: 'Session token, shown once: send it as `Authorization: Bearer <token>` (also set as the fs_session cookie)' }),
    expiresAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);

export const ListAccountsQuery = Type.Object(
  {
    role: Type.Optional(RoleSchema),
    q: Type.Optional(
      Type.String({ minLength: 1, maxLength: 254, pattern: '\\S', description: 'Find accounts: an e-mail that starts with it or a name that contains it (either case)' }),
    ),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'nextCursor from the previous page' })),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  },
  { additionalProperties: false },
);

export const AccountPage = Type.Object(
  {
    items: Type.Array(Account),
    nextCursor: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
);

export type SignUpBody = Static<typeof SignUpBody>;
export type LogInBody = Static<typeof LogInBody>;
