// Events the social context publishes, added to the one EventMap. Times are ISO strings (payloads are JSON).
declare module '../../platform/events' {
  interface EventMap {
    /** A post or story went live, with the tags it was published with. */
    'social.post.published': { postId: string; creatorId: string; kind: 'post' | 'story'; publishedAt: string; tagIds: string[] };
    /** A post or story was deleted by its creator (its tags no longer show anywhere). */
    'social.post.deleted': { postId: string; creatorId: string };
    'social.tag.created': { tagId: string; postId: string; creatorId: string; productId: string; createdAt: string };
    /** The tag no longer shows in feeds; touches recorded before stay. */
    'social.tag.deactivated': { tagId: string; postId: string; creatorId: string; productId: string };
    'social.creator.followed': { accountId: string; creatorId: string };
    'social.creator.unfollowed': { accountId: string; creatorId: string };
  }
}

export {};
