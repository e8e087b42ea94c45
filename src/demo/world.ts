/** The demo world's content: a small believable shop floor for the quickstart. Data only; see seed.ts. */

export interface DemoProduct {
  slug: string;
  name: string;
  description: string;
  priceMinor: number;
  variants?: Array<{ title: string; options: Record<string, string>; priceMinor?: number; stock: number }>;
  /** Stock when the product has a single variant. */
  stock?: number;
}

export interface DemoMerchant {
  email: string;
  displayName: string;
  name: string;
  description: string;
  products: DemoProduct[];
}

export interface DemoCreator {
  email: string;
  displayName: string;
  handle: string;
  bio: string;
  /** Product slugs this creator tends to tag. */
  tags: string[];
  captions: string[];
  stories: string[];
}

const sizes = (stock: number[]) =>
  ['S', 'M', 'L'].map((s, i) => ({ title: `Size ${s}`, options: { size: s }, stock: stock[i] ?? 10 }));

export const DEMO_MERCHANTS: DemoMerchant[] = [
  {
    email: 'merchant@feedshop.dev',
    displayName: 'Nadia (Northwind)',
    name: 'Northwind Outfitters',
    description: 'Clothes made to be worn for years: linen, merino and leather.',
    products: [
      { slug: 'linen-shirt', name: 'Everyday Linen Shirt', description: 'Garment-washed European linen, relaxed fit, mother-of-pearl buttons.', priceMinor: 4800, variants: sizes([12, 30, 18]) },
      { slug: 'wide-leg-trousers', name: 'Wide-Leg Trousers', description: 'High-rise pleated trousers in a breathable cotton twill.', priceMinor: 6900, variants: sizes([8, 14, 9]) },
      { slug: 'merino-crew', name: 'Merino Crew Sweater', description: 'Fine-gauge 100% merino that breathes, in two colours.', priceMinor: 8900, variants: [
        { title: 'Oatmeal', options: { colour: 'oatmeal' }, stock: 25 },
        { title: 'Charcoal', options: { colour: 'charcoal' }, stock: 4 },
      ] },
      { slug: 'canvas-tote', name: 'Waxed Canvas Tote', description: 'Water-resistant waxed canvas with leather handles and an inside pocket.', priceMinor: 2400, stock: 60 },
      { slug: 'chelsea-boots', name: 'Suede Chelsea Boots', description: 'Hand-lasted suede boots on a stitched crepe sole.', priceMinor: 15900, variants: sizes([1, 2, 0]) },
      { slug: 'wool-beanie', name: 'Ribbed Wool Beanie', description: 'Chunky rib-knit beanie in recycled wool.', priceMinor: 2200, stock: 0 },
    ],
  },
  {
    email: 'merchant.lumen@feedshop.dev',
    displayName: 'Jonas (Lumen Home)',
    name: 'Lumen Home',
    description: 'Warm, simple things for the home.',
    products: [
      { slug: 'pour-over-set', name: 'Ceramic Pour-Over Set', description: 'Dripper, carafe and two cups in matte stoneware.', priceMinor: 3900, stock: 40 },
      { slug: 'linen-bedding', name: 'Stonewashed Linen Bedding', description: 'Duvet cover and two pillowcases; softer with every wash.', priceMinor: 14900, variants: [
        { title: 'Queen', options: { size: 'queen' }, stock: 15 },
        { title: 'King', options: { size: 'king' }, priceMinor: 16900, stock: 6 },
      ] },
      { slug: 'oak-side-table', name: 'Solid Oak Side Table', description: 'Oiled white oak, joined without screws.', priceMinor: 18900, stock: 3 },
      { slug: 'mug-set', name: 'Speckled Mug Set (4)', description: 'Four hand-glazed 350 ml mugs.', priceMinor: 3200, stock: 80 },
      { slug: 'brass-lamp', name: 'Brass Table Lamp', description: 'Solid brass with a linen shade and a warm dimmable bulb.', priceMinor: 12900, stock: 9 },
    ],
  },
  {
    email: 'merchant.glow@feedshop.dev',
    displayName: 'Priya (Glow Lab)',
    name: 'Glow Lab',
    description: 'Skincare with short ingredient lists.',
    products: [
      { slug: 'vitamin-c-serum', name: 'Vitamin C Brightening Serum', description: '15% L-ascorbic acid with vitamin E and ferulic acid.', priceMinor: 2800, stock: 120 },
      { slug: 'daily-spf', name: 'Daily Mineral SPF 50', description: 'Sheer zinc sunscreen, no white cast.', priceMinor: 2200, stock: 200 },
      { slug: 'gentle-cleanser', name: 'Hydrating Gel Cleanser', description: 'Low-pH cleanser with glycerin and panthenol.', priceMinor: 1600, stock: 150 },
      { slug: 'lip-tint', name: 'Sheer Lip Tint', description: 'Buildable colour with a balm finish.', priceMinor: 1400, variants: [
        { title: 'Rose', options: { shade: 'rose' }, stock: 40 },
        { title: 'Berry', options: { shade: 'berry' }, stock: 2 },
        { title: 'Coral', options: { shade: 'coral' }, stock: 35 },
      ] },
      { slug: 'overnight-mask', name: 'Overnight Repair Mask', description: 'Ceramides and squalane while you sleep.', priceMinor: 3400, stock: 50 },
    ],
  },
  {
    email: 'merchant.trail@feedshop.dev',
    displayName: 'Ben (Trailhead)',
    name: 'Trailhead Gear',
    description: 'Light gear for long days outside.',
    products: [
      { slug: 'daypack', name: 'Ultralight 20L Daypack', description: '540 g, roll-top, with a padded hip belt.', priceMinor: 8900, stock: 30 },
      { slug: 'insulated-bottle', name: 'Insulated Steel Bottle', description: 'Cold for 24 hours, hot for 12.', priceMinor: 3200, variants: [
        { title: '600 ml', options: { volume: '600ml' }, stock: 70 },
        { title: '1 l', options: { volume: '1l' }, priceMinor: 3800, stock: 45 },
      ] },
      { slug: 'trail-socks', name: 'Merino Trail Socks', description: 'Cushioned, blister-free, three pairs.', priceMinor: 1800, stock: 90 },
      { slug: 'rain-jacket', name: 'Packable Rain Jacket', description: '3-layer waterproof shell that packs into its pocket.', priceMinor: 12900, variants: sizes([5, 11, 7]) },
      { slug: 'camp-lantern', name: 'Rechargeable Camp Lantern', description: 'Warm light for 40 hours; charges your phone too.', priceMinor: 4500, stock: 25 },
    ],
  },
];

export const DEMO_CREATORS: DemoCreator[] = [
  {
    email: 'creator@feedshop.dev',
    displayName: 'Mia Chen',
    handle: 'mia_styles',
    bio: 'Capsule wardrobes and slow fashion. Lisbon.',
    tags: ['linen-shirt', 'wide-leg-trousers', 'merino-crew', 'canvas-tote', 'chelsea-boots', 'lip-tint'],
    captions: ['Linen season is here ☀️', 'Five pieces, ten outfits', 'The boots I wear every single day', 'Sunday market look', 'Packing light for Porto'],
    stories: ['Fitting room sneak peek', 'Restock alert!'],
  },
  {
    email: 'creator.leo@feedshop.dev',
    displayName: 'Leo Martins',
    handle: 'leo_at_home',
    bio: 'Small apartment, big coffee habit.',
    tags: ['pour-over-set', 'mug-set', 'brass-lamp', 'oak-side-table', 'linen-bedding'],
    captions: ['Morning ritual, slowed down', 'Reading corner finally done', 'Bedroom refresh on a budget', 'The lamp that changed the room'],
    stories: ['Brewing now'],
  },
  {
    email: 'creator.ava@feedshop.dev',
    displayName: 'Ava Patel',
    handle: 'glowbyava',
    bio: 'Skincare that is honest about what it does.',
    tags: ['vitamin-c-serum', 'daily-spf', 'gentle-cleanser', 'overnight-mask', 'lip-tint'],
    captions: ['My 3-step morning routine', 'SPF you will actually wear', 'Night routine for dry winter skin', 'Lip tint swatches: which one?'],
    stories: ['Day 7 of the serum test', 'Shelfie'],
  },
  {
    email: 'creator.sam@feedshop.dev',
    displayName: 'Sam Okafor',
    handle: 'trail_sam',
    bio: 'Weekend hikes and overnights.',
    tags: ['daypack', 'insulated-bottle', 'trail-socks', 'rain-jacket', 'camp-lantern'],
    captions: ['Everything in one 20 L pack', 'Rain all day, dry all day', 'Camp kitchen, lit'],
    stories: ['Summit in 10 minutes'],
  },
  {
    email: 'creator.nora@feedshop.dev',
    displayName: 'Nora Lind',
    handle: 'nora_daily',
    bio: 'A little of everything I actually use.',
    tags: ['canvas-tote', 'insulated-bottle', 'daily-spf', 'mug-set', 'merino-crew'],
    captions: ['What is in my bag', 'Cosy Sunday', 'Desk setup for focus'],
    stories: ['Giveaway soon?'],
  },
];

export const DEMO_SHOPPERS = [
  { email: 'shopper@feedshop.dev', displayName: 'Sofia Rossi', follows: ['mia_styles', 'leo_at_home', 'glowbyava'] },
  { email: 'shopper.tom@feedshop.dev', displayName: 'Tom Becker', follows: ['trail_sam', 'leo_at_home'] },
  { email: 'shopper.lena@feedshop.dev', displayName: 'Lena Novak', follows: ['glowbyava', 'mia_styles', 'nora_daily'] },
  { email: 'shopper.kai@feedshop.dev', displayName: 'Kai Tanaka', follows: ['trail_sam'] },
  { email: 'shopper.ines@feedshop.dev', displayName: 'Inês Costa', follows: ['mia_styles', 'nora_daily'] },
  { email: 'shopper.omar@feedshop.dev', displayName: 'Omar Haddad', follows: [] },
];

export const DEMO_ADMIN = { email: 'admin@feedshop.dev', displayName: 'Platform Admin' };

export const REVIEW_TEXTS: Array<{ rating: number; title: string; body: string }> = [
  { rating: 5, title: 'Exactly as shown', body: 'Saw it in a post, bought it, and it is even better in person.' },
  { rating: 4, title: 'Very good', body: 'Great quality. Shipping took a couple of days longer than I hoped.' },
  { rating: 5, title: 'Use it every day', body: 'Worth every cent; I already ordered a second one.' },
  { rating: 3, title: 'Fine', body: 'Does the job, but the colour is a little different from the photos.' },
  { rating: 4, title: 'Recommended', body: 'Well made and nicely packaged.' },
  { rating: 2, title: 'Not for me', body: 'Runs small; I had to return it for a bigger size.' },
];
