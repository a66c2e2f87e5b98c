// Names for npm run bench:front-desk's synthetic patients. Trigram search behaves on real names as
// it does here only if the names look like real ones: many shared trigrams (Maria, Mario, Marian),
// common surnames shared by thousands of rows, rarer ones by a few. Each list runs from the most
// common to the least: the generator picks with a skew towards the top, as real registers do.
// A mix of origins, as a city clinic's register has.

export const FEMALE_FIRST_NAMES = list(`
  Maria, Anna, Sarah, Emma, Olivia, Sofia, Fatima, Aisha, Elena, Laura,
  Jessica, Emily, Hannah, Julia, Mary, Linda, Patricia, Jennifer, Elizabeth, Susan,
  Margaret, Karen, Nancy, Lisa, Sandra, Ashley, Michelle, Amanda, Melissa, Rebecca,
  Chloe, Charlotte, Amelia, Isabella, Mia, Grace, Lucy, Ella, Zoe, Lily,
  Priya, Ananya, Deepika, Kavya, Meera, Lakshmi, Sunita, Neha, Pooja, Divya,
  Mei, Yuki, Hana, Ji-woo, Min-seo, Xiu, Lan, Thi, Mai, Linh,
  Amina, Zainab, Mariam, Khadija, Leila, Yasmin, Noor, Salma, Huda, Rania,
  Ngozi, Chiamaka, Adaeze, Funmilayo, Abena, Ama, Wanjiru, Amara, Imani, Zawadi,
  Ana, Lucia, Carmen, Isabel, Rosa, Marta, Paula, Ines, Beatriz, Catarina,
  Ingrid, Astrid, Freya, Sigrid, Katarzyna, Agnieszka, Svetlana, Natalia, Irina, Oksana,
  Marianne, Maribel, Marisol, Mariana, Annika, Annette, Joanna, Johanna, Siobhan, Niamh
`);

export const MALE_FIRST_NAMES = list(`
  James, John, Mohammed, David, Michael, Robert, William, Daniel, Joseph, Thomas,
  Christopher, Charles, Matthew, Anthony, Mark, Paul, Steven, Andrew, Joshua, Kevin,
  Brian, George, Edward, Ronald, Timothy, Jason, Jeffrey, Ryan, Jacob, Gary,
  Oliver, Jack, Harry, Noah, Leo, Oscar, Charlie, Freddie, Alfie, Arthur,
  Rahul, Arjun, Vikram, Sanjay, Rajesh, Amit, Suresh, Anil, Ravi, Karthik,
  Wei, Jun, Hiroshi, Takeshi, Min-jun, Seo-jun, Chen, Minh, Duc, Hung,
  Ahmed, Ali, Omar, Hassan, Hussein, Ibrahim, Youssef, Khalid, Tariq, Karim,
  Chinedu, Emeka, Oluwaseun, Kwame, Kofi, Tendai, Juma, Baraka, Sipho, Thabo,
  Jose, Juan, Carlos, Luis, Miguel, Javier, Pedro, Antonio, Manuel, Francisco,
  Lars, Erik, Magnus, Bjorn, Piotr, Tomasz, Dmitri, Sergei, Andrei, Mikhail,
  Mario, Marius, Marco, Marcus, Martin, Johan, Jonas, Jonathan, Sean, Declan
`);

export const SURNAMES = list(`
  Smith, Johnson, Williams, Brown, Jones, Garcia, Miller, Davis, Rodriguez, Martinez,
  Khan, Ahmed, Ali, Singh, Kumar, Patel, Sharma, Nguyen, Wang, Li,
  Hernandez, Lopez, Gonzalez, Wilson, Anderson, Thomas, Taylor, Moore, Jackson, Martin,
  Lee, Perez, Thompson, White, Harris, Sanchez, Clark, Ramirez, Lewis, Robinson,
  Walker, Young, Allen, King, Wright, Scott, Torres, Hill, Flores, Green,
  Adams, Nelson, Baker, Hall, Rivera, Campbell, Mitchell, Carter, Roberts, Gomez,
  Zhang, Liu, Chen, Yang, Huang, Zhao, Wu, Zhou, Kim, Park,
  Choi, Tanaka, Suzuki, Sato, Takahashi, Watanabe, Tran, Le, Pham, Hoang,
  Gupta, Reddy, Iyer, Nair, Menon, Rao, Joshi, Mehta, Desai, Chatterjee,
  Hassan, Hussain, Ibrahim, Abdullah, Rahman, Mahmoud, Haddad, Nasser, Saleh, Farouk,
  Okafor, Okonkwo, Adeyemi, Mensah, Owusu, Mwangi, Otieno, Kamau, Ndlovu, Dlamini,
  Silva, Santos, Oliveira, Pereira, Costa, Ferreira, Alves, Ribeiro, Carvalho, Almeida,
  Muller, Schmidt, Schneider, Fischer, Weber, Meyer, Wagner, Becker, Hoffmann, Schulz,
  Rossi, Russo, Ferrari, Esposito, Bianchi, Romano, Colombo, Ricci, Marino, Greco,
  Kowalski, Nowak, Wisniewski, Wojcik, Ivanov, Petrov, Smirnov, Popov, Volkov, Sokolov,
  Johansson, Andersson, Karlsson, Nilsson, Larsen, Hansen, Jensen, Nielsen, Berg, Lindqvist,
  O'Brien, O'Connor, Murphy, Kelly, Walsh, Byrne, Ryan, McCarthy, Doyle, Gallagher,
  Dubois, Moreau, Laurent, Lefebvre, Fontaine, Rousseau, Bernard, Girard, Mercier, Blanc,
  Van der Berg, De Jong, Jansen, De Vries, Bakker, Visser, Smit, Meijer, Mulder, Bos,
  Cohen, Levy, Friedman, Katz, Papadopoulos, Georgiou, Yilmaz, Kaya, Demir, Celik,
  Smyth, Smithson, Johnston, Jonson, Anders, Andrews, Martins, Martinson, Kahn, Cann
`);

/** One list from a comma-separated text (names may hold spaces, apostrophes and hyphens). */
function list(text: string): string[] {
  return text.split(',').map((name) => name.trim());
}
